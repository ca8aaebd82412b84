// Command flux-peer is the Flux peer of `npm run bench -- peers`: it builds each app with
// Flux's kustomize library (github.com/fluxcd/pkg/kustomize: the generator that writes a
// kustomization.yaml for plain directories, then SecureBuild) and applies it with Flux's
// server-side apply engine (github.com/fluxcd/pkg/ssa: ResourceManager.ApplyAllStaged), the
// pair at the core of kustomize-controller. It prints one JSON object on stdout.
//
// Input (-apps FILE): a JSON array of {"name", "dir", "namespace"}; dir is relative to -root.
// Apps are reconciled -concurrency at a time (kustomize-controller's --concurrent defaults to 4).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/kustomize"
	"github.com/fluxcd/pkg/ssa"
	ssautils "github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

type app struct {
	Name      string `json:"name"`
	Dir       string `json:"dir"`
	Namespace string `json:"namespace"`
}

type result struct {
	Apps       int     `json:"apps"`
	Objects    int     `json:"objects"`
	Created    int     `json:"created"`
	Configured int     `json:"configured"`
	Unchanged  int     `json:"unchanged"`
	Ms         float64 `json:"ms"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file of the API server")
	root := flag.String("root", "", "root of the config repo checkout")
	appsFile := flag.String("apps", "", "JSON array of apps to reconcile")
	concurrency := flag.Int("concurrency", 4, "apps reconciled at once")
	qps := flag.Float64("qps", 0, "client QPS (0: unthrottled; kustomize-controller defaults to 50)")
	burst := flag.Int("burst", 0, "client burst (kustomize-controller defaults to 300)")
	flag.Parse()
	if err := run(*kubeconfig, *root, *appsFile, *concurrency, float32(*qps), *burst); err != nil {
		fmt.Fprintf(os.Stderr, "flux-peer: %v\n", err)
		os.Exit(1)
	}
}

func run(kubeconfig, root, appsFile string, concurrency int, qps float32, burst int) error {
	raw, err := os.ReadFile(appsFile)
	if err != nil {
		return err
	}
	var apps []app
	if err := json.Unmarshal(raw, &apps); err != nil {
		return fmt.Errorf("%s: %w", appsFile, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	if qps > 0 {
		cfg.QPS, cfg.Burst = qps, burst
	} else {
		cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limiter
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return err
	}
	kube, err := client.New(cfg, client.Options{Mapper: mapper})
	if err != nil {
		return err
	}
	poller := polling.NewStatusPoller(kube, mapper, polling.Options{})
	manager := ssa.NewResourceManager(kube, poller, ssa.Owner{Field: "kustomize-controller", Group: "kustomize.toolkit.fluxcd.io"})

	var (
		mu    sync.Mutex
		out   = result{Apps: len(apps)}
		first error
		wg    sync.WaitGroup
		queue = make(chan app)
	)
	started := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range queue {
				cs, n, err := reconcile(manager, root, a)
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("app %s: %w", a.Name, err)
				}
				out.Objects += n
				if cs != nil {
					for _, e := range cs.Entries {
						switch e.Action {
						case ssa.CreatedAction:
							out.Created++
						case ssa.ConfiguredAction:
							out.Configured++
						case ssa.UnchangedAction:
							out.Unchanged++
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, a := range apps {
		queue <- a
	}
	close(queue)
	wg.Wait()
	out.Ms = float64(time.Since(started).Microseconds()) / 1000
	if first != nil {
		return first
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// reconcile does what kustomize-controller does for one Kustomization between fetching the
// artifact and writing its status: generate, build, label, apply staged.
func reconcile(manager *ssa.ResourceManager, root string, a app) (*ssa.ChangeSet, int, error) {
	dir := filepath.Join(root, a.Dir)
	spec := unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
		"kind":       "Kustomization",
		"metadata":   map[string]any{"name": a.Name, "namespace": "flux-system"},
		"spec":       map[string]any{"targetNamespace": a.Namespace, "path": a.Dir, "prune": true},
	}}
	action, err := kustomize.NewGenerator(root, spec).WriteFile(dir, kustomize.WithSaveOriginalKustomization())
	if err != nil {
		return nil, 0, err
	}
	resources, err := kustomize.SecureBuild(root, dir, false)
	if cleanErr := kustomize.CleanDirectory(dir, action); err == nil && cleanErr != nil {
		err = cleanErr
	}
	if err != nil {
		return nil, 0, err
	}
	manifests, err := resources.AsYaml()
	if err != nil {
		return nil, 0, err
	}
	objects, err := ssautils.ReadObjects(bytes.NewReader(manifests))
	if err != nil {
		return nil, 0, err
	}
	manager.SetOwnerLabels(objects, a.Name, "flux-system")
	cs, err := manager.ApplyAllStaged(context.Background(), objects, ssa.DefaultApplyOptions())
	return cs, len(objects), err
}

export { Discovery } from './discovery.ts';
export { KubeHttp } from './kube-http.ts';
export {
  APP_LABEL,
  applyOrder,
  FIELD_MANAGER,
  FORCE_ANNOTATION,
  INVENTORY_NAMESPACE,
  KubernetesCluster,
  type KubernetesClusterOptions,
  MANAGED_BY,
  WAVE_ANNOTATION,
} from './kubernetes-cluster.ts';
export { clusterSecretRef, SecretKubeconfigCluster } from './secret-kubeconfig.ts';

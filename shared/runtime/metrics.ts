import { Metrics } from '@aws-lambda-powertools/metrics';

/** Every Sluice metric lives in one CloudWatch namespace, with the function as `service`. */
export const METRICS_NAMESPACE = 'Sluice';

/**
 * Hands the EMF document to a sink instead of stdout: the same metrics, counted by the same code,
 * in hosts that must not print EMF among their own output (`sluice dev`, tests).
 */
class SinkMetrics extends Metrics {
  readonly #sink: (emf: Readonly<Record<string, unknown>>) => void;

  constructor(serviceName: string, sink: (emf: Readonly<Record<string, unknown>>) => void) {
    super({ namespace: METRICS_NAMESPACE, serviceName, logger: quiet });
    this.#sink = sink;
  }

  override publishStoredMetrics(): this {
    try {
      if (this.hasStoredMetrics()) this.#sink(this.serializeMetrics());
    } finally {
      this.clearMetrics();
      this.clearDimensions();
      this.clearMetadata();
    }
    return this;
  }
}

const ignore = () => undefined;
const quiet = { debug: ignore, info: ignore, warn: ignore, error: ignore, log: ignore, trace: ignore };

/** A stage's metrics: EMF on stdout (Lambda) unless a sink is given. */
export const pipelineMetrics = (
  stage: string,
  sink?: (emf: Readonly<Record<string, unknown>>) => void,
): Metrics =>
  sink
    ? new SinkMetrics(`sluice-${stage}`, sink)
    : new Metrics({ namespace: METRICS_NAMESPACE, serviceName: `sluice-${stage}` });

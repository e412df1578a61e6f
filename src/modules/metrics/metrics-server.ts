import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import { AppConfig } from '../../config/config.js';
import { MetricsService } from './metrics.service.js';

/**
 * With METRICS_PORT set, `GET /metrics` is served here, by a bare `node:http` server on HOST, and
 * no longer on PORT: a cluster's Prometheus scrapes the pod's metrics port while the API's ingress
 * and Service expose only PORT. It answers nothing else (404), needs no key, and is up from the
 * end of start-up until the process shuts down (closed after HTTP, with the other connections),
 * so the last scrapes see the drain.
 */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server: Server | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  /** The port it listens on (METRICS_PORT, or the one the OS gave for 0 in tests); undefined when off. */
  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    const { enabled, port: metricsPort } = this.config.metrics;
    const { host } = this.config.http;
    if (!enabled || !metricsPort) return;
    const server = createServer((request, response) => {
      const path = (request.url ?? '').split('?')[0];
      if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: this port serves GET /metrics\n');
        return;
      }
      this.metrics.metrics().then(
        (body) =>
          response
            .writeHead(200, { 'content-type': this.metrics.contentType, 'cache-control': 'no-store' })
            .end(request.method === 'HEAD' ? undefined : body),
        (error: unknown) => {
          this.logger.error({ err: error }, 'metrics scrape failed');
          response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(metricsPort, host, () => resolve());
    });
    this.server = server;
    this.logger.log({ port: this.port, host }, `metrics on http://${host}:${this.port}/metrics`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

# syntax=docker/dockerfile:1
# Conveyor: one image for every role (ROLE=all|api|worker), the migration Job and the backup
# CronJob (deploy/kubernetes). Build: docker build -t conveyor:0.1.0 .
# Node 24 LTS. test/deploy.spec.ts checks this file: stages, user, entrypoint, probe path.

# 1. Compile: every dependency (TypeScript is a dev dependency), then tsc into dist/.
#    Migrations are compiled too (dist/migrations, listed in migrations/index.ts).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build && rm -f dist/.tsbuildinfo

# 2. Production dependencies only. --omit=optional leaves out the embedded PostgreSQL binaries
#    (about 60 MB, loaded only when DATABASE_URL is unset; a container must always set it, or its
#    data would die with it) and pg-cloudflare (Cloudflare Workers only).
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force

# 3. Runtime.
FROM node:24-bookworm-slim AS runtime
# pg_dump/pg_restore for npm run db:backup / db:restore (the backup CronJob runs this image). They
# must be at least the server's major version. Debian 12 ships 15; for a newer server build with
# --build-arg PG_CLIENT_MAJOR=17 (adds the PostgreSQL project's apt repository through
# postgresql-common's script), or run the backup with another image and set PG_BIN_DIR.
ARG PG_CLIENT_MAJOR=15
# dumb-init is PID 1: it forwards SIGTERM to node (which drains, see src/main.ts) and reaps
# children (pg_dump). npm is never PID 1: it does not pass signals on reliably.
RUN set -eux; \
    apt-get update; \
    if [ "$PG_CLIENT_MAJOR" = 15 ]; then \
      apt-get install -y --no-install-recommends dumb-init postgresql-client-15; \
    else \
      apt-get install -y --no-install-recommends dumb-init ca-certificates postgresql-common; \
      /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y; \
      apt-get install -y --no-install-recommends "postgresql-client-${PG_CLIENT_MAJOR}"; \
    fi; \
    rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PORT=3000 \
    PG_BIN_DIR=/usr/lib/postgresql/${PG_CLIENT_MAJOR}/bin
WORKDIR /app
# Owned by root and not writable by the user the process runs as. package.json is read at start
# (the version in /health/detailed and the webhook User-Agent).
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Numeric: Kubernetes can check runAsNonRoot only against a numeric user (1000 is the image's
# `node` user). Conveyor writes nothing to disk in production except BACKUP_DIR (a volume).
USER 1000:1000
EXPOSE 3000
# For docker/compose; Kubernetes uses the Deployments' probes instead. No curl in the slim image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/api/v1/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["dumb-init", "--"]
CMD ["node", "dist/src/main.js"]

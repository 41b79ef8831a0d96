# syntax=docker/dockerfile:1
# altlas-runner: Node.js 24 runs the TypeScript sources directly (type stripping), so there is no
# build step; the first stage installs the production dependencies only.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:${NODE_VERSION}-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="altlas-runner" \
      org.opencontainers.image.description="Runs ALT_LAS .alt task files from NATS JetStream with AI models and publishes .last results" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/altlas-runner/altlas-runner" \
      org.opencontainers.image.base.name="node:${NODE_VERSION}-slim"
ENV NODE_ENV=production \
    HTTP_PORT=8080 \
    PATH=/app/bin:$PATH
WORKDIR /app
# jemalloc: bin/altlas runs the worker with it (freed memory goes back to the system within seconds).
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
COPY --chown=node:node bin ./bin
COPY --chown=node:node scripts/node24 ./scripts/node24
COPY --chown=node:node src ./src
COPY --chown=node:node schemas ./schemas
COPY --chown=node:node samples ./samples
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `altlas worker`: the worker with the OpenTelemetry SDK loaded first (bin/altlas adds --import).
ENTRYPOINT ["/app/bin/altlas"]
CMD ["worker"]

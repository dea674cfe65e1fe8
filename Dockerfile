# syntax=docker/dockerfile:1
# Portcullis gateway image. Stages: `opa` builds the pinned OPA CLI (for git mode; bundle mode needs
# none), `deps` installs production npm packages, the final stage is a slim Node 24 runtime running as
# an unprivileged user on a read-only root file system with its data directory as a volume.
# The base images are build arguments so a registry mirror (or a locally built base) can stand in.
ARG NODE_IMAGE=node:24-bookworm-slim
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS opa
ARG OPA_VERSION=v1.22.2
ENV CGO_ENABLED=0 GOBIN=/out GOFLAGS=-trimpath
RUN go install "github.com/open-policy-agent/opa@${OPA_VERSION}" && /out/opa version

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production packages only; the pinned-Node dev package and its install script are not needed: the
# base image is Node 24.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="portcullis" \
      org.opencontainers.image.description="GitOps policy-as-code gateway for AI coding agents" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/portcullis/portcullis"
# git + ssh follow a policy repository; tini forwards SIGTERM so calls in flight drain.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 portcullis \
 && useradd --system --uid 10001 --gid portcullis --home-dir /data --shell /usr/sbin/nologin portcullis \
 && mkdir -p /data && chown portcullis:portcullis /data
COPY --from=opa /out/opa /usr/local/bin/opa
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY schemas ./schemas
COPY policies ./policies
ENV NODE_ENV=production \
    OPA_PATH=/usr/local/bin/opa \
    HOME=/tmp \
    PORTCULLIS_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PORTCULLIS_HEALTHCHECK_URL).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "node", "/app/bin/portcullis.js"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir", "/data", "--policy", "/app/policies"]

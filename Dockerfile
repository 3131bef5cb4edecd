# graph-proxy container image: a static binary on distroless, non-root,
# read-only-root-filesystem friendly. Container Apps probes /healthz and
# /readyz itself, so the image has no HEALTHCHECK.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version the binary reports (graph-proxy version, /status, every
# genesis audit record). .git is not in the build context, so the build
# cannot work it out: pass it, as the Makefile computes it:
#   docker build --build-arg VERSION=$(git describe --always --dirty) .
ARG VERSION=dev
# The same flags as the Makefile's build target (a test checks that they agree).
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.buildVersion=${VERSION}" -o /out/graph-proxy ./cmd/graph-proxy

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.version=$VERSION
# The binary's one path in the image, and not on PATH (there is no shell
# either): run it in a running replica as
#   az containerapp exec -g <rg> -n <app> --command "/graph-proxy check"
COPY --from=build /out/graph-proxy /graph-proxy
# 65532 is distroless's nonroot user; the process writes nothing to the
# image (audit files go to a mounted volume), so the root filesystem can be
# read-only.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/graph-proxy"]
CMD ["serve"]

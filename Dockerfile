# syntax=docker/dockerfile:1
#
# Tally as a static binary in a distroless image: no shell, no package
# manager, CA certificates and time zone data included, non-root user.
#
#   docker build -t tally .
#   docker run -p 8080:8080 -e TALLY_STORE='mongodb://mongo:27017/tally?replicaSet=rs0' tally

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: every dependency is pure Go, and the result runs on an
# image without a C library. -trimpath keeps build paths out of the binary.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/tally ./cmd/tally

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tally /usr/local/bin/tally
# nonroot (65532) cannot write to /, so the default SQLite store lives in a
# volume it owns. Production sets TALLY_STORE to a mongodb:// URI instead.
WORKDIR /home/nonroot
VOLUME /home/nonroot/data
USER nonroot:nonroot
ENV TALLY_ADDR=:8080
EXPOSE 8080
# The image has no shell or curl: the binary probes its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
	CMD ["/usr/local/bin/tally", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tally"]
CMD ["serve"]

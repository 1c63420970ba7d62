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
# The image has no shell to make the data directory with, so it is made
# here and copied in with its owner (below).
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tally /usr/local/bin/tally
# nonroot (65532) cannot write to /, so the default SQLite store lives in a
# volume it owns. Docker creates a volume's mount point owned by root unless
# the image holds the directory, and fills a new named volume from it, owner
# included: hence the directory, copied with nonroot as its owner, before
# VOLUME. Production sets TALLY_STORE to a mongodb:// URI instead.
# (dockerfile_test.go checks this layout.)
WORKDIR /home/nonroot
COPY --from=build --chown=65532:65532 /out/data /home/nonroot/data
VOLUME /home/nonroot/data
USER nonroot:nonroot
ENV TALLY_ADDR=:8080
ENV TALLY_STORE=sqlite:/home/nonroot/data/tally.db
EXPOSE 8080
# The image has no shell or curl: the binary probes its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
	CMD ["/usr/local/bin/tally", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tally"]
CMD ["serve"]

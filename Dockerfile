# medic: a static binary on a distroless base (no shell at run time), as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# Terraform for the recovery jobs (medic runs it through terraform-exec, never a shell).
RUN CGO_ENABLED=0 GOBIN=/out go install github.com/hashicorp/terraform@v1.5.7
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/medic ./cmd/medic

FROM gcr.io/distroless/static-debian12:nonroot
# distroless/static carries the CA certificates medic needs for Slack, GitHub and AWS.
COPY --from=build /out/medic /usr/local/bin/medic
COPY --from=build /out/terraform /usr/local/bin/terraform
# distroless's nonroot user, by number: Kubernetes' runAsNonRoot can check a number, not a
# name (charts/medic runs it as 65532:65532).
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/medic"]
CMD ["serve", "--config", "/etc/medic/medic.yaml"]

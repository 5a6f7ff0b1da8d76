# syntax=docker/dockerfile:1
# cloudops runtime image: one image, every role (`cloudops worker --role parse`, ...).
#
# BASE_IMAGE: any Debian-like image with Python >= 3.11 and the venv module.
#   With Docker Hub:    docker build --build-arg BASE_IMAGE=python:3.11-slim -t cloudops .
#   Without (this repo's CI): scripts/image-base.sh debootstraps Debian bookworm (Python 3.11 from
#   Debian) into localhost/debian-base:bookworm, then scripts/image.sh builds with buildah.
# The runtime stage holds the virtualenv only: no compilers, no build tools, no test servers
# (chdb, noida-db and moto are the `embedded` extra, which this image does not install).
ARG BASE_IMAGE=localhost/debian-base:bookworm

FROM ${BASE_IMAGE} AS build
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_INDEX_URL=${PIP_INDEX_URL} \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
# Extra CA certificates of a TLS-intercepting proxy, mounted by the builder at /run/extra-ca
# (scripts/image.sh: `buildah bud -v /usr/local/share/ca-certificates:/run/extra-ca:ro`); they
# stay in this stage and never reach the runtime image.
RUN if ls /run/extra-ca/*.crt >/dev/null 2>&1; then \
      cp /run/extra-ca/*.crt /usr/local/share/ca-certificates/ && update-ca-certificates >/dev/null; \
    fi
RUN python3 -m venv /opt/cloudops && /opt/cloudops/bin/pip install --quiet --upgrade pip
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Byte-compiled here: the runtime's root filesystem is read-only, so Python cannot cache them there.
RUN /opt/cloudops/bin/pip install --quiet . \
 && /opt/cloudops/bin/python -m compileall -q /opt/cloudops/lib >/dev/null \
 && /opt/cloudops/bin/python -c "import cloudops.cli, cloudops.app"

FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="cloudops" \
      org.opencontainers.image.description="Multi-cloud FinOps pipeline: billing exports -> FOCUS -> Kafka -> ClickHouse -> Terraform pull requests" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/cloudops/cloudops" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /opt/cloudops /opt/cloudops
# A fixed numeric non-root user (Kubernetes runAsNonRoot checks the numeric id).
RUN echo 'cloudops:x:10001:10001:cloudops:/home/cloudops:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'cloudops:x:10001:' >> /etc/group \
 && mkdir -p /home/cloudops /var/lib/cloudops \
 && chown 10001:10001 /home/cloudops /var/lib/cloudops
ENV PATH=/opt/cloudops/bin:$PATH \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/cloudops \
    CLOUDOPS_APP__WORK_DIR=/var/lib/cloudops \
    CLOUDOPS_HEALTH__PORT=8080
USER 10001:10001
WORKDIR /var/lib/cloudops
EXPOSE 8080
ENTRYPOINT ["cloudops"]
CMD ["worker"]

# The GANime image of kuberay.yaml: Python 3.11, the pinned stack (requirements.lock with the gpu
# and aws extras, as cluster.yaml installs it) and the pretrained assets, so a pod downloads
# neither when it starts.
#   docker build -t REGISTRY/ganime:0.1.0 . && docker push REGISTRY/ganime:0.1.0
# CUDA comes with TensorFlow's and-cuda wheels: a GPU node needs only the NVIDIA driver and the
# device plugin.
FROM python:3.11-slim-bookworm

# Ray's own images run as uid 1000 "ray" in /home/ray; so does this one.
RUN useradd --create-home --uid 1000 ray

# The uv of the Makefile and cluster.yaml.
RUN pip install --no-cache-dir "uv==0.13.9"

# Only what the package and its jobs need; no .venv, runs or MLflow store from the build machine.
WORKDIR /home/ray/ganime
COPY pyproject.toml requirements.lock README.md ./
COPY ganime_core ganime_core
COPY orchestration orchestration
COPY experiments experiments

# Into the image's Python rather than a venv: its scripts land in /usr/local/bin, on PATH in any
# shell, including the login shell KubeRay starts Ray in when ENABLE_LOGIN_SHELL is set.
# --compile-bytecode: every Ray worker imports TensorFlow; compiled once here, not in each (Makefile).
RUN uv pip install --system --no-cache --compile-bytecode -c requirements.lock -e ".[gpu,aws]"

USER ray
# The weights GANime uses, into the Keras and TF Hub caches under /home/ray (TF Hub's default is
# under /tmp, which a pod may mount over). Build with --build-arg GANIME_ASSETS_MIRROR=URL to
# fetch them from your own mirror.
ENV TFHUB_CACHE_DIR=/home/ray/.cache/tfhub_modules
ARG GANIME_ASSETS_MIRROR
RUN ganime assets fetch all

# Two images from one file, each with only what its process imports (pyproject.toml extras):
#   docker build -t fastproc-worker .              # the default: `pip install .`, a worker
#   docker build --target api -t fastproc-api .    # `pip install '.[html]'`, the API
# Neither carries the command-line client or the embedded Valkey of `fastproc dev`.
FROM python:3.12-slim AS source
WORKDIR /app
COPY pyproject.toml README.md ./
COPY fastproc ./fastproc
COPY workers ./workers

FROM source AS api
RUN pip install --no-cache-dir '.[html]'
USER nobody
EXPOSE 8000
CMD ["fastproc", "serve", "--host", "0.0.0.0", "--port", "8000"]

FROM source AS worker
RUN pip install --no-cache-dir .
USER nobody
CMD ["fastproc", "worker"]

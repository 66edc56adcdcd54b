FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY fastproc ./fastproc
COPY workers ./workers
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 8000
CMD ["fastproc", "serve", "--host", "0.0.0.0", "--port", "8000"]

# Soul Lab bot. Production needs REDIS_URL, SIGNING_SECRET and PROFILE_ENCRYPTION_KEY(S).
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-nanum redis-server \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY config ./config
RUN pip install --no-cache-dir .

ENV APP_ENV=production \
    PORT=8787 \
    DATA_DIR=/app/data \
    CONFIG_FILE=/app/config/defaults.toml \
    PYTHONUNBUFFERED=1
RUN useradd --create-home soul && mkdir -p /app/data && chown soul /app/data
USER soul
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os;urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8787\")}/health')"
CMD ["python", "-m", "bot", "run"]

# originmark service image: `docker build -t originmark .` then
#   docker run -p 8000:8000 -v originmark-data:/data originmark
# First start on an empty /data: development signing keys are created in /data/keys (the log
# says so, loudly) and the SQLite database in /data/originmark.db. Create an API key with
#   docker exec <container> originmark apikey create --name NAME --scopes sign,verify,read
# For production mount real credentials and set ORIGINMARK_SIGNING_CHAIN / ORIGINMARK_SIGNING_KEY,
# and ORIGINMARK_DATABASE_URL=postgresql+psycopg://... for PostgreSQL (see the README's settings).

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the project and its dependencies installed into a virtualenv --------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The same path as in the runtime stage: a virtualenv's scripts name their interpreter by path.
RUN python -m venv /opt/originmark

WORKDIR /src
# Dependencies first, in their own layer, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && /opt/originmark/bin/pip install --requirement requirements.txt

# The packages (with their package data: the trust lists under verifier/trust_data and the
# Alembic migrations under app/store/migrations). README.md: pyproject.toml names it as readme.
COPY README.md ./
COPY app ./app
COPY keys ./keys
COPY signer ./signer
COPY verifier ./verifier
RUN /opt/originmark/bin/pip install --no-deps . \
    && /opt/originmark/bin/python -c "from verifier.trust import default_trust_policy; default_trust_policy()" \
    && /opt/originmark/bin/originmark --help > /dev/null

# --- runtime: the virtualenv only, run by an unprivileged user --------------------------------
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --gid 10001 originmark \
    && useradd --no-log-init --uid 10001 --gid originmark --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin originmark \
    && mkdir /data \
    && chown originmark:originmark /data

COPY --from=builder /opt/originmark /opt/originmark

# The home (`originmark info`): keys in /data/keys, the SQLite database /data/originmark.db, local
# objects in /data/objects, an optional /data/config.toml. Uploads are spooled to the system temp
# dir (/tmp in the container), not to the data volume.
# HOST/PORT: also for a command that overrides CMD (`docker run IMAGE originmark serve --workers 4`);
# the HEALTHCHECK below asks port 8000.
ENV PATH=/opt/originmark/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ORIGINMARK_HOME=/data \
    ORIGINMARK_HOST=0.0.0.0 \
    ORIGINMARK_PORT=8000

# A named volume starts with the image's /data (owned by uid 10001); a host folder mounted here
# must be writable by uid 10001.
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001

EXPOSE 8000
# The slim image has no curl: ask /healthz with the interpreter already in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/originmark/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["originmark", "serve", "--host", "0.0.0.0", "--port", "8000"]

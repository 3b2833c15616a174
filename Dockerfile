# One image for every Cloud Run service; each picks its entrypoint with FUNCTION_TARGET.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    # The feature code's numba loop is compiled at build time into this cache (see the warm-up below),
    # so a cold instance does not spend seconds of a 10 s step compiling.
    NUMBA_CACHE_DIR=/app/.numba-cache

WORKDIR /app
# PyAV's wheel bundles FFmpeg, so the image needs no system codecs.
# The hashed lock (make lock): every build installs the same bytes.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY shared/ shared/
COPY functions/ functions/
RUN pip install --no-deps . \
    && python -c "from trackscan.audio.warmup import warm_up; warm_up()" \
    && useradd --uid 10001 --no-create-home trackscan \
    && chmod -R a+rX /app/.numba-cache

USER 10001
# gunicorn with the settings and app of trackscan.api.serving (functions-framework's app for
# FUNCTION_TARGET, the API behind its request guard); PORT and THREADS as functions-framework reads them.
CMD ["gunicorn", "--config", "python:trackscan.api.serving", "trackscan.api.serving:create_app()"]

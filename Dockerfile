FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# Dependencies from the lock first (exact versions, hashes required): this layer is rebuilt only when the
# lock changes. requirements-runtime.lock has requirements.lock's pins without the test tools (`make lock`).
COPY requirements-runtime.lock ./
RUN pip install --require-hashes -r requirements-runtime.lock
COPY . .
# Editable and without dependencies, built by the locked setuptools: the app runs from /app (templates/
# and static/ live beside the packages).
RUN pip install --no-deps --no-build-isolation -e . && useradd --create-home --uid 10001 app \
    && mkdir -p /data/media && chown app /data/media
# The translations: every locale/*/LC_MESSAGES/*.po compiles to its .mo with the locked Babel (the .mo files
# are build output, never in the repository; Makefile "messages" does the same for `make install`).
RUN for po in locale/*/LC_MESSAGES/*.po; do pybabel compile --statistics -i "$po" -o "${po%.po}.mo" || exit 1; done
# Static files are hashed and compressed at build time; whitenoise serves them.
RUN DEBUG=true SECRET_KEY=build ANIAVATAR_MASTER_KEYS=1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= \
    ANIAVATAR_VAR_DIR=/tmp/build STATIC_MANIFEST=true python manage.py collectstatic --noinput
USER app
# glibc gives every thread that allocates its own malloc arena: with 50 worker threads decoding images
# that memory stays fragmented. Two arenas cut the worker's peak RSS by about a fifth (bench concurrency).
ENV ANIAVATAR_VAR_DIR=/tmp/aniavatar PORT=8000 MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
EXPOSE 8000
CMD ["sh", "-c", "gunicorn aniavatar.wsgi --bind 0.0.0.0:${PORT} --workers 3 --access-logfile -"]

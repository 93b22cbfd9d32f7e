FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic loads the settings, and local settings make secrets when none are set: let them make
# throwaway ones in /tmp, deleted in the same layer, so the image holds no key.
RUN AUTONOMOS_SECRETS_FILE=/tmp/build-secrets.env DJANGO_SETTINGS_MODULE=autonomos.settings.local \
    python manage.py collectstatic --noinput && rm -f /tmp/build-secrets.env /tmp/build-secrets.env.lock
# The install's own keys, made (mode 600) at the first start on the data volume and shared by every
# container that mounts it (docker-compose.yml); production sets them in the environment instead.
ENV AUTONOMOS_SECRETS_FILE=/data/secrets.env
EXPOSE 8000
CMD ["bash", "scripts/web.sh"]

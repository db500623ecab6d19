# The image every service in docker-compose.yml runs: Airflow plus the whole
# project as the DAG and the pipeline find it at run time (cme.PROJECT_DIR is
# /opt/cme, so dbt_project/, expectations/ and config/ must sit beside plugins/).
FROM apache/airflow:3.3.2-python3.11

USER root
# /data holds landing extracts and outputs (learner data): owned by airflow and
# private; a fresh named volume mounted here copies this ownership and mode.
RUN mkdir -p /opt/cme /data/landing /data/out \
 && chown -R airflow:root /opt/cme /data \
 && chmod 0700 /data /data/landing /data/out
USER airflow
WORKDIR /opt/cme

# Dependencies first so code changes do not reinstall them; Airflow stays at the
# image's version (requirements.txt carries psycopg2-binary for PostgreSQL).
COPY --chown=airflow:root requirements.txt pyproject.toml ./
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r requirements.txt

COPY --chown=airflow:root dags ./dags
COPY --chown=airflow:root plugins ./plugins
COPY --chown=airflow:root dbt_project ./dbt_project
COPY --chown=airflow:root expectations ./expectations
COPY --chown=airflow:root config ./config
RUN pip install --no-cache-dir --no-deps -e .

"""The tutorial's DAG `user_automation`, with its task running spate (issue 20).

For teams that keep Airflow as their orchestrator: the same ids, schedule and start date as
the tutorial's DAG, but the task `stream_data_from_api` runs `spate produce` (randomuser.me
users into the Kafka topic `users_created` for 60 seconds) instead of a Python loop, and
failed runs are retried with exponential backoff. Without Airflow, examples/jobs.yaml is the
same job for `spate schedule`.

Install: copy this file into Airflow's dags/ folder, on workers where the `spate` binary is
installed. Settings, all optional, from the worker's environment:
  SPATE_BIN       the spate binary (default: spate, found on PATH)
  SPATE_BROKERS   Kafka bootstrap servers (default: broker:29092, the tutorial's broker
                  inside its Docker network)
  SPATE_CONFIG    a spate config file for anything else, e.g. a `kafka:` map for SASL
                  (default: /etc/spate/produce.yaml, used only if it exists)
Credentials never go in this file: spate reads them from its config file or from SPATE_*
variables (SPATE_PG_DSN...), which BashOperator passes on from the worker's environment.

Exit codes (spate's): 0 success, 1 the run failed (Airflow retries it), 2 bad configuration.
"""
import os
import shlex
from datetime import datetime, timedelta

from airflow import DAG

try:  # Airflow 3 moved the operator into the standard provider.
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2.
    from airflow.operators.bash import BashOperator

SPATE_BIN = os.environ.get("SPATE_BIN", "spate")
BROKERS = os.environ.get("SPATE_BROKERS", "broker:29092")
CONFIG = os.environ.get("SPATE_CONFIG", "/etc/spate/produce.yaml")


def produce_command():
    """`spate produce` with the tutorial task's source, duration and topic, as one shell line."""
    args = [
        SPATE_BIN,
        "produce",
        "--source", "randomuser",
        "--duration", "60s",
        "--topic", "users_created",
        "--brokers", BROKERS,
        "--progress", "never",
    ]
    line = " ".join(shlex.quote(arg) for arg in args)
    # The config file is optional: flags override it, and it may hold credentials, so it is
    # named here but never read by Airflow itself.
    config = shlex.quote(CONFIG)
    return f"if [ -f {config} ]; then exec {line} --config {config}; else exec {line}; fi"


default_args = {
    "owner": "airscholar",
    "start_date": datetime(2023, 9, 3, 10, 00),
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    # The stream stops itself after 60 s; this only ends a run that hangs.
    "execution_timeout": timedelta(minutes=10),
}

with DAG(
    dag_id="user_automation",
    default_args=default_args,
    schedule="@daily",
    catchup=False,
) as dag:
    streaming_task = BashOperator(
        task_id="stream_data_from_api",
        bash_command=produce_command(),
    )

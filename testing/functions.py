"""The API functions as Lambda imports them: where each one's code is, and the environment a
fresh interpreter needs to import it without a database (cold-start and import measures)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = {
    "UsersFunction": ("functions/users", "users_app"),
    "PostsFunction": ("functions/posts", "posts_app"),
    "CommentsFunction": ("functions/comments", "comments_app"),
    "StatsFunction": ("functions/stats", "stats_app"),
    "MigrateFunction": ("functions/migrate", "migrate_app"),
}


def function_env(codeuri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "AWS_"))}
    env.update(
        PYTHONPATH=f"{ROOT / codeuri}{os.pathsep}{ROOT / 'layers/shared'}",
        DB_HOST="127.0.0.1",
        DB_SECRET_ID="unused",
        DB_TLS="disable",
        POWERTOOLS_SERVICE_NAME="bench",
        POWERTOOLS_METRICS_NAMESPACE="Bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return env

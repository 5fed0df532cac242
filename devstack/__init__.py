"""Docker-free local stack and test harness support: a private PostgreSQL
cluster, TLS material, database provisioning. Development only; never shipped."""

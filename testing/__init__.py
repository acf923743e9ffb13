"""The shared harness of the tests and the benchmarks: real processes started and stopped (children),
the production cluster on the local PostgreSQL, Redis and nginx (cluster), ports, paths and waits
(common). Never imported by the product."""

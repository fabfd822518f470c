"""The ``history`` command: a year of Copilot 1-day reports and every week of LOC as backfillable OpenMetrics.

`plan` decides the days and reports, `reports` reads one report of one day into samples (through the
live mapper), `weeks` reads a repository's weekly LOC, `state` keeps finished work on disk, `spill`
sorts it into runs and merges them, `writer` renders the merged runs, `runner` drives the whole and
`assembly` builds it from a config. Nothing here serves HTTP or touches the exporter's store.
"""

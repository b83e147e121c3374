"""Jobs: one file (job.toml) names the sources, the columns, the index to audit, the thresholds
and the outputs; `undertow run job.toml` runs it streaming and writes report.html, report.json
and a JUnit XML file, and exits with a code a pipeline can gate on (see docs/jobs.md).

The command line (`undertow.cli`) is a thin layer over this package: every subcommand (`psi`,
`embed`, `audit`, `run`, `fit`) builds a `JobSpec` and calls `run_job` / `fit_job`.

* `exit_codes`: the exit codes, defined once; `JobError` carries one and the key at fault;
* `spec`: the job file, parsed and validated strictly (`load_job`); `toml_lines`: key -> line;
* `columns`: which columns a section reads (datetime and id-like columns skipped, with a note);
* `states`: the fitted reference file `undertow fit` writes and `undertow run` reuses;
* `sections`: the reports as sections of checks with one status vocabulary;
* `report_json`, `junit`, `html`: the outputs; `outputs`: written to temporary names and
  renamed only when all are complete;
* `runner`: `fit_job`, `run_job`.
"""

from undertow.jobs.exit_codes import ExitCode, JobError
from undertow.jobs.runner import JobResult, fit_job, run_job
from undertow.jobs.spec import JobSpec, load_job

__all__ = ["ExitCode", "JobError", "JobResult", "JobSpec", "fit_job", "load_job", "run_job"]

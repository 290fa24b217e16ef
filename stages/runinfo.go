package stages

import "time"

// RunInfo describes the run a job is computed in, for kinds that record
// provenance in their outputs (report). The runner fills it. It is not part
// of the stage's key: an output that shows it describes the run that
// computed the entry, which a later run with the same key reuses as is.
type RunInfo struct {
	// ExperimentFile is the experiment file as the user named it;
	// ExperimentSHA256 the hex SHA-256 of its bytes.
	ExperimentFile, ExperimentSHA256 string
	// Experiment is its name; Run the run's name ("" for the file as
	// written) and Overrides its --set flags, canonical.
	Experiment, Run string
	Overrides       []string
	// Stages are the job's stage and every stage upstream of it, in
	// dependency order: what determines the job's key.
	Stages []StageInfo
	// GoVersion is runtime.Version(); Platform the OS, architecture, CPU
	// model and the network code's kernel path ("linux/amd64, Intel(R)
	// Xeon(R) …, conv kernel avx2").
	GoVersion, Platform string
	// Date is when the job started, UTC.
	Date time.Time
}

// StageInfo is one stage of a run.
type StageInfo struct {
	Name, Kind, Version, Key string
	// Params is the stage's parameters in canonical JSON (defaults filled
	// in, keys sorted), as its key hashes them.
	Params string
}

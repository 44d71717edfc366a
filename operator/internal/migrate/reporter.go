package migrate

// Reporter receives the runner's progress. The library never prints: the operator's
// `migrate` command passes a Reporter that writes step lines to stderr.
type Reporter interface {
	// Note reports a decision that runs no migration, e.g. a fresh install stamped at the
	// target or a platform already up to date. msg is one line without a trailing newline.
	Note(msg string)
	// Start reports that m is about to run.
	Start(m Migration)
	// Done reports how m ended: err is nil when it succeeded and its successor version was
	// stamped, otherwise the error the run stops with.
	Done(m Migration, err error)
}

// Discard is a Reporter that drops everything; Run uses it when Options.Reporter is nil.
var Discard Reporter = discard{}

type discard struct{}

func (discard) Note(string)           {}
func (discard) Start(Migration)       {}
func (discard) Done(Migration, error) {}

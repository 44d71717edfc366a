// Package daemon runs the long-lived part of a lab in a process of its own, so `lab:up` can
// return while the lab keeps running, yet nothing survives a harness killed in the middle.
//
// The harness (the parent) starts the daemon in a new session with two extra pipes: a lifeline
// the parent holds open (fd 3 in the daemon) and an event stream (fd 4) on which the daemon
// reports its steps in progress's wire format and finally "ready" or "failed". The parent shows
// those steps as its own. When the daemon is ready the parent writes "detach" on the lifeline
// and leaves; the lab then runs until `lab:down` signals the daemon. Until the detach, the
// lifeline closing — the parent exiting for any reason, SIGKILL included — makes the daemon
// tear the lab down and exit. The daemon's own children die with it (Pdeathsig, lab/process).
package daemon

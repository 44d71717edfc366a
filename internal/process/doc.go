// Package process supervises the local programs a lab runs (etcd, kube-apiserver, later the
// controllers and QEMU) so that none of them outlives the lab.
//
// A Group owns a run directory: each process logs to <dir>/<name>.log and is recorded in
// <dir>/pids. Three layers keep the machine clean:
//
//   - Stop ends the processes in reverse start order, politely first (SIGTERM), then SIGKILL.
//   - Every child is started with Pdeathsig=SIGKILL from one OS thread that never exits, so when
//     the supervising program dies — even by SIGKILL — the kernel kills its children.
//   - The group holds an flock on <dir>/owner.lock for its lifetime. Sweep finds directories
//     whose lock is free (their owner died), kills whatever recorded process still runs there
//     (checking its start time, so a reused PID is never hit) and removes the directory, so a
//     killed run never wedges the next one.
//
// Programs and Baseline catch what escaped all three, whoever started it: a Baseline taken
// before a test run remembers the lab programs already running (a developer's lab), and KillNew
// afterwards kills and names every one started since.
package process

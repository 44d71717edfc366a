package twin

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cozylab/cozylab/talos/machineconfig"
)

// metadata names the answering node, as apid does in every message.
func (t *Twin) metadata() *common.Metadata {
	return &common.Metadata{Hostname: t.node.Hostname()}
}

// nodeError turns a Node error into a gRPC status: ErrNotReady becomes FailedPrecondition, the
// code Talos clients treat as "retry later".
func nodeError(err error) error {
	if errors.Is(err, ErrNotReady) {
		return status.Error(codes.FailedPrecondition, err.Error())
	}

	return status.Error(codes.Internal, err.Error())
}

// Version reports the API version, the platform, and the Go runtime the twin really runs on.
func (t *Twin) Version(context.Context, *emptypb.Empty) (*machine.VersionResponse, error) {
	return &machine.VersionResponse{Messages: []*machine.Version{{
		Metadata: t.metadata(),
		Version: &machine.VersionInfo{
			Tag:       t.opts.Tag,
			GoVersion: runtime.Version(),
			Os:        runtime.GOOS,
			Arch:      runtime.GOARCH,
		},
		Platform: &machine.PlatformInfo{Name: t.opts.Platform, Mode: t.mode()},
	}}}, nil
}

// mode names the state the way Version's platform mode is read by operators.
func (t *Twin) mode() string {
	if t.Maintenance() {
		return "maintenance"
	}

	return "configured"
}

// ApplyConfiguration validates the config with machinery and makes it current. In maintenance
// mode it also ends maintenance: new connections then need the cluster's client certificate.
func (t *Twin) ApplyConfiguration(ctx context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	if req.GetMode() == machine.ApplyConfigurationRequest_TRY {
		return nil, status.Error(codes.InvalidArgument, "apply configuration: try mode is not supported by the twin")
	}

	if req.GetDryRun() {
		_, warnings, err := validateConfig(req.GetData())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}

		return t.applyResponse(req.GetMode(), warnings, "Dry run: the configuration is valid and was not applied"), nil
	}

	warnings, err := t.accept(ctx, req.GetData())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}

	if req.GetMode() == machine.ApplyConfigurationRequest_REBOOT {
		if err := t.node.Reboot(ctx); err != nil {
			return nil, nodeError(err)
		}

		return t.applyResponse(req.GetMode(), warnings, "Applied configuration with a reboot"), nil
	}

	return t.applyResponse(req.GetMode(), warnings, "Applied configuration without a reboot"), nil
}

func (t *Twin) applyResponse(mode machine.ApplyConfigurationRequest_Mode, warnings []string, details string) *machine.ApplyConfigurationResponse {
	return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{
		Metadata:    t.metadata(),
		Warnings:    warnings,
		Mode:        mode,
		ModeDetails: details,
	}}}
}

// validateConfig parses and validates a machine config as the node's platform would.
func validateConfig(raw []byte) (config.Provider, []string, error) {
	cfg, warnings, err := machineconfig.ValidateBytes(raw)
	if err != nil {
		return nil, warnings, fmt.Errorf("apply configuration: %w", err)
	}

	return cfg, warnings, nil
}

// Bootstrap starts etcd on this node, once. It is refused with FailedPrecondition on a worker, a
// second time, or while the node says etcd is not ready, like Talos.
func (t *Twin) Bootstrap(ctx context.Context, _ *machine.BootstrapRequest) (*machine.BootstrapResponse, error) {
	// bootstrapMu is held across the node call so two concurrent Bootstraps cannot both start
	// etcd, while t.mu stays free for the calls that keep arriving meanwhile.
	t.bootstrapMu.Lock()
	defer t.bootstrapMu.Unlock()

	t.mu.Lock()
	controlPlane := t.config.Machine().Type().IsControlPlane()
	done := t.bootstrapped
	t.mu.Unlock()

	if !controlPlane {
		return nil, status.Error(codes.FailedPrecondition, "bootstrap is not available on a worker node")
	}

	if done {
		return nil, status.Error(codes.FailedPrecondition, "etcd is already bootstrapped")
	}

	if err := t.node.Bootstrap(ctx); err != nil {
		return nil, nodeError(err)
	}

	t.mu.Lock()
	t.bootstrapped = true
	t.mu.Unlock()

	return &machine.BootstrapResponse{Messages: []*machine.Bootstrap{{Metadata: t.metadata()}}}, nil
}

package qemu

import (
	"cmp"
	"fmt"
	"os"
)

// Environment variables that choose the Talos image when the provider's fields are empty.
const (
	EnvTalosVersion   = "LAB_TALOS_VERSION"
	EnvTalosSchematic = "LAB_TALOS_SCHEMATIC"
	EnvTalosSHA256    = "LAB_TALOS_IMAGE_SHA256"
)

// nodeImage is the image Up was asked for: the twin unless NodeImageTalos was named. The twin
// stays the default because nothing here can tell, before the daemon probes KVM and tries the
// download, whether a Talos image can be used.
func (p *Provider) nodeImage() string {
	if p.NodeImage == NodeImageTalos {
		return NodeImageTalos
	}
	return NodeImageTwin
}

// request is what Up records for the daemon, which reads everything from the state: the
// checkout, the node image and, for Talos, the image's version, schematic and pin.
func (p *Provider) request(repo string) map[string]string {
	values := map[string]string{KeyRepoRoot: repo, KeyNodeImage: p.nodeImage()}
	if p.nodeImage() == NodeImageTalos {
		values[KeyTalosVersion] = cmp.Or(p.TalosVersion, os.Getenv(EnvTalosVersion))
		values[KeyTalosSchematic] = cmp.Or(p.TalosSchematic, os.Getenv(EnvTalosSchematic))
		values[KeyTalosPin] = cmp.Or(p.TalosSHA256, os.Getenv(EnvTalosSHA256))
	}
	return values
}

// checkTalos refuses a bad Talos version, schematic or pin before anything starts.
func (p *Provider) checkTalos() error {
	if p.nodeImage() != NodeImageTalos {
		return nil
	}
	_, err := recordedTalos(func(k string) string { return p.request("")[k] }).WithDefaults()
	return err
}

// sameImage refuses to reuse a running lab of another node image than the one LAB_NODE_IMAGE
// names explicitly; with LAB_NODE_IMAGE unset any running lab is reused.
func (p *Provider) sameImage(running string) error {
	if p.NodeImage == "" || running == "" || p.nodeImage() == running {
		return nil
	}
	return fmt.Errorf("QEMU lab %s is up with the %s image, not %s: remove it first with `LAB_NAME=%s go run mage.go lab:down`",
		p.Lab, running, p.nodeImage(), p.Lab)
}

// CheckE2E says whether the e2e pipeline can run on this lab, before anything starts: not on
// the twin (ErrTwinE2E). The image is the running lab's, else the one Up would boot.
func (p *Provider) CheckE2E() error {
	image := p.nodeImage()
	if store, err := p.open(); err == nil && store.Value(KeyNodeImage) != "" {
		image = store.Value(KeyNodeImage)
	}
	if image != NodeImageTalos {
		return ErrTwinE2E
	}
	return nil
}

package twinimage

import "os"

// baseFiles are what the node's programs expect of any Linux system and no package of theirs
// ships: the root user and group (the kubelet refuses to start without /etc/passwd; containerd
// and runc resolve user names through it), name service through files then DNS, localhost, a
// world-writable /tmp (the agent mounts a tmpfs over it) and root's home, and an os-release the
// kubelet reports as the node's OS image.
func baseFiles() []entry {
	return []entry{
		{Name: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")},
		{Name: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Name: "/etc/nsswitch.conf", Mode: 0o644, Data: []byte("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n")},
		{Name: "/etc/hosts", Mode: 0o644, Data: []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")},
		{Name: "/etc/os-release", Mode: 0o644, Data: []byte(`PRETTY_NAME="cozylab Talos twin"
NAME="cozylab Talos twin"
ID=cozylab-twin
`)},
		{Name: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		{Name: "/root", Mode: os.ModeDir | 0o700},
	}
}

// Package seed puts a lab node's NoCloud seed on the medium it boots with: an ISO 9660 image
// labelled "cidata" holding meta-data, network-config and user-data at its root. What the files
// say, and how they are parsed back, is talos/nocloud's business: Talos' nocloud platform, and the
// twin agent in talos/twin, find the volume by its label and read them with it.
//
// The image is plain ISO 9660 without Rock Ridge or Joliet: the file identifiers are
// "meta-data;1", "network-config;1" and "user-data;1" (lower case; '-' is a d1-character). Linux
// isofs (default map=normal) shows them as meta-data, network-config and user-data. The volume
// identifier is "cidata" in lower case, as genisoimage -volid cidata writes it.
package seed

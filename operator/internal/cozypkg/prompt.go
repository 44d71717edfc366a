package cozypkg

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// errNoAnswer is a prompt's input ending before an answer.
var errNoAnswer = errors.New("input ended before an answer")

// readAnswer reads one line from in, without its line ending. A last line without a newline
// counts; input ending with nothing is errNoAnswer.
func readAnswer(in *bufio.Reader) (string, error) {
	line, err := in.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		if errors.Is(err, io.EOF) {
			return "", errNoAnswer
		}
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// selectVariant asks on w which variant of ps to install and reads the choice from in, again
// and again until it is a number of the list. With a single variant, an empty answer picks it.
func selectVariant(in *bufio.Reader, w io.Writer, ps *v1alpha1.PackageSource) (string, error) {
	variants := ps.Spec.Variants
	if len(variants) == 0 {
		return "", fmt.Errorf("PackageSource %s has no variants", ps.Name)
	}
	fmt.Fprintf(w, "\nPackageSource: %s\n", ps.Name)
	fmt.Fprintf(w, "Available variants:\n")
	for i, v := range variants {
		fmt.Fprintf(w, "  %d. %s\n", i+1, v.Name)
	}
	prompt := fmt.Sprintf("Select variant (1-%d): ", len(variants))
	if len(variants) == 1 {
		prompt = "Select variant [1]: "
	}
	for {
		fmt.Fprint(w, prompt)
		answer, err := readAnswer(in)
		if err != nil {
			return "", fmt.Errorf("read variant of %s: %w", ps.Name, err)
		}
		if answer == "" && len(variants) == 1 {
			return variants[0].Name, nil
		}
		choice, err := strconv.Atoi(answer)
		if err != nil || choice < 1 || choice > len(variants) {
			fmt.Fprintf(w, "Invalid choice. Please enter a number between 1 and %d.\n", len(variants))
			continue
		}
		return variants[choice-1].Name, nil
	}
}

// confirm asks question on w and reports whether the answer read from in is y or yes (any
// case). Anything else, input that ends included, is a no.
func confirm(in *bufio.Reader, w io.Writer, question string) (bool, error) {
	fmt.Fprint(w, question)
	answer, err := readAnswer(in)
	if errors.Is(err, errNoAnswer) {
		fmt.Fprintln(w)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read answer: %w", err)
	}
	answer = strings.ToLower(answer)
	return answer == "y" || answer == "yes", nil
}

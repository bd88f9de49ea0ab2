package artifact

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
)

// BindFlags registers the limits on fs, with their defaults, under the same names in every
// controller that makes or opens artifacts. Sizes are Kubernetes quantities ('16Mi', '1Gi').
func (l *Limits) BindFlags(fs *pflag.FlagSet) {
	*l = l.WithDefaults()
	fs.Var(bytesFlag{&l.MaxFileBytes}, "artifact-max-file-size", "The most one file of an artifact may hold, unpacked: a larger one fails the artifact.")
	fs.Var(bytesFlag{&l.MaxBytes}, "artifact-max-unpacked-size", "The most the files of an artifact may hold together, unpacked.")
	fs.IntVar(&l.MaxFiles, "artifact-max-files", l.MaxFiles, "The most files and directories an artifact may hold.")
}

// SizeFlag is a flag for the size *p, written as a Kubernetes quantity ('512Mi').
func SizeFlag(p *int64) pflag.Value { return bytesFlag{p} }

// bytesFlag is a size flag written as a Kubernetes quantity.
type bytesFlag struct{ p *int64 }

func (b bytesFlag) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("%q is not a size such as 16Mi: %w", s, err)
	}
	if q.Value() <= 0 {
		return fmt.Errorf("%q: the size must be positive", s)
	}
	*b.p = q.Value()
	return nil
}

func (b bytesFlag) String() string {
	if b.p == nil {
		return ""
	}
	return resource.NewQuantity(*b.p, resource.BinarySI).String()
}

func (bytesFlag) Type() string { return "size" }

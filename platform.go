package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"

	"selectivity/stages/model"
)

// platform describes the machine for provenance: OS and architecture, the
// CPU model (from /proc/cpuinfo where there is one) and the kernel path the
// network code takes on it.
func platform() string {
	cpu := "CPU model unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s/%s, %s (%d CPUs), conv kernel %s", runtime.GOOS, runtime.GOARCH, cpu, runtime.NumCPU(), model.ConvKernel())
}

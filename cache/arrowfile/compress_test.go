package arrowfile

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sparseRow fills dst like a post-ReLU map: mostly zeros, some positives.
func sparseRow(row int, dst []float32) {
	for j := range dst {
		if (row*7+j*13)%5 == 0 {
			dst[j] = float32(row) + float32(j)/8
		}
	}
}

// TestCompressedMatrixRoundTrip writes the same matrix uncompressed, with
// LZ4 and with ZSTD: the compressed files are smaller, say so, and read back
// the same rows and row counts, batch by batch.
func TestCompressedMatrixRoundTrip(t *testing.T) {
	dir := t.TempDir()
	const rows, cols = 7, 3000
	plain := filepath.Join(dir, "plain.arrow")
	if err := WriteMatrixBatched(plain, rows, cols, 3, map[string]string{ShapeKey: "3000"}, sparseRow); err != nil {
		t.Fatal(err)
	}
	plainSize := fileSize(t, plain)
	want := make([]float32, cols)
	for _, c := range []Compression{LZ4, ZSTD} {
		p := filepath.Join(dir, string(c)+".arrow")
		if err := WriteMatrixCompressed(p, rows, cols, 3, c, map[string]string{ShapeKey: "3000"}, sparseRow); err != nil {
			t.Fatal(err)
		}
		if size := fileSize(t, p); size*2 > plainSize {
			t.Errorf("%s: %d bytes, uncompressed %d", c, size, plainSize)
		}
		r, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Compressed() || r.NumRows() != rows || r.NumRecords() != 3 {
			t.Fatalf("%s: compressed %v, %d rows in %d records", c, r.Compressed(), r.NumRows(), r.NumRecords())
		}
		if v, _ := Meta(r.Schema(), ShapeKey); v != "3000" {
			t.Errorf("%s: shape metadata %q", c, v)
		}
		var firsts []int
		n := 0
		err = ReadMatrixBatches(r, 1, func(first int, batch [][]float32) error {
			firsts = append(firsts, first)
			for j, got := range batch {
				clear(want)
				sparseRow(first+j, want)
				for k := range want {
					if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
						t.Fatalf("%s: row %d col %d = %v, want %v", c, first+j, k, got[k], want[k])
					}
				}
				n++
			}
			return nil
		})
		r.Close()
		if err != nil || n != rows || len(firsts) != 3 || firsts[1] != 3 || firsts[2] != 6 {
			t.Fatalf("%s: err %v, %d rows, batches at %v", c, err, n, firsts)
		}
	}
}

// TestCompressedBytesDeterministic: the same matrix gives the same bytes.
func TestCompressedBytesDeterministic(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []Compression{LZ4, ZSTD} {
		var files [2][]byte
		for i := range files {
			p := filepath.Join(dir, string(c)+string(rune('a'+i))+".arrow")
			if err := WriteMatrixCompressed(p, 4, 5000, 1, c, nil, sparseRow); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files[i] = b
		}
		if !bytes.Equal(files[0], files[1]) {
			t.Errorf("%s: two writes of the same matrix differ", c)
		}
	}
}

// TestCompressedClaimTooBig: a buffer claiming more than MaxBufferBytes
// uncompressed is refused at Open, naming the file, before arrow allocates.
func TestCompressedClaimTooBig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.arrow")
	if err := WriteMatrixCompressed(p, 1, 2000, 1, ZSTD, nil, sparseRow); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// The values buffer's length prefix: 2000 float32 = 8000 bytes.
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], 8000)
	i := bytes.Index(data, prefix[:])
	if i < 0 {
		t.Fatal("no uncompressed-length prefix of 8000 in the file")
	}
	binary.LittleEndian.PutUint64(data[i:], MaxBufferBytes+1)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(p)
	if err == nil || !strings.Contains(err.Error(), "claims") || !strings.Contains(err.Error(), p) {
		t.Fatalf("Open = %v, want a refused claim naming the file", err)
	}
}

func TestCreateUnknownCompression(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.arrow")
	err := WriteMatrixCompressed(p, 1, 1, 1, "gzip", nil, sparseRow)
	if err == nil || !strings.Contains(err.Error(), `"gzip"`) {
		t.Fatalf("err = %v", err)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

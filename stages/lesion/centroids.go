package lesion

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// The nearest-centroid task of a network without a classification head
// (dlib_resnet29, whose head is a 128-value face embedding): each task
// image's class is its identity (class_from order), each identity's
// centroid is the mean of the intact network's unit-length embeddings of
// its images in centroid_stimuli (held-out images of the same identities;
// without it, the task images themselves), scaled back to unit length, and an image's logits are its
// embedding's cosine with every centroid times CentroidScale, the
// cosine-softmax of face-recognition training. Lesion effects are the
// loss and accuracy of these logits, with the centroids kept at the intact
// network's; nearest centroid = largest logit.

// centroidTask turns t into a nearest-centroid task: an intact pass over
// the centroid images (centroid_stimuli, else t's own) gives the centroids.
func (r *runner) centroidTask(ctx context.Context, t *task, scale float64) error {
	ref, src := t.ref, "held-out images of "+t.stage
	if ref == nil {
		ref, src = t, "the task images"
	} else if _, err := r.prepare(ctx, ref); err != nil {
		return err
	}
	d := r.classes // the head's width: the embedding
	emb := make([]float32, len(ref.labels)*d)
	ref.capture = func(first int, out []float32) { copy(emb[first*d:], out) }
	_, err := r.evaluate(ctx, ref, [][]int{{}}, nil)
	ref.capture = nil
	if err != nil {
		return err
	}
	t.k = len(t.index)
	t.centroids = centroids(emb, d, ref.labels, t.k)
	t.scale = scale
	t.labSrc += fmt.Sprintf(", nearest centroid of %s (cosine × %g)", src, scale)
	return nil
}

// centroids are the unit-length means of the unit-length rows of emb (n ×
// d) of each of k labels, k × d; a label whose rows are all zero gets a
// zero centroid.
func centroids(emb []float32, d int, labels []int, k int) []float32 {
	sum := make([]float64, k*d)
	for i, y := range labels {
		row := emb[i*d : (i+1)*d]
		n := norm(row)
		if n == 0 {
			continue
		}
		for j, v := range row {
			sum[y*d+j] += float64(v) / n
		}
	}
	out := make([]float32, k*d)
	for c := range k {
		var s float64
		for _, v := range sum[c*d : (c+1)*d] {
			s += v * v
		}
		if s == 0 {
			continue
		}
		s = math.Sqrt(s)
		for j, v := range sum[c*d : (c+1)*d] {
			out[c*d+j] = float32(v / s)
		}
	}
	return out
}

// cosineLogits writes, for each row of emb (n × d), scale × its cosine
// with each of the k centroids (unit length, k × d) into dst (n × k); a
// zero row gets zero logits.
func cosineLogits(emb []float32, d int, cent []float32, k int, scale float64, dst []float32) []float32 {
	n := len(emb) / d
	dst = slices.Grow(dst[:0], n*k)[:n*k]
	for i := range n {
		row := emb[i*d : (i+1)*d]
		nr := norm(row)
		for c := range k {
			if nr == 0 {
				dst[i*k+c] = 0
				continue
			}
			var dot float64
			for j, v := range row {
				dot += float64(v) * float64(cent[c*d+j])
			}
			dst[i*k+c] = float32(scale * dot / nr)
		}
	}
	return dst
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

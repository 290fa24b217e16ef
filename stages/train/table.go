package train

import (
	"encoding/json"
	"fmt"
	"strconv"

	"selectivity/cache/arrowfile"
	"selectivity/stages"
	"selectivity/stages/internal/checkpoint"
	"selectivity/stages/internal/data"
	"selectivity/stages/internal/net"
)

// outputs writes the stage's files.
type outputs struct {
	job   *stages.Job
	order []string
	meta  map[string]string
	curve curve
}

func newOutputs(job *stages.Job, p *Params, d *dataset, arch *net.Arch) *outputs {
	names, _ := json.Marshal(d.names())
	o := &outputs{job: job, meta: map[string]string{
		"arch": p.Arch, "width": strconv.Itoa(p.Width), "hidden": strconv.Itoa(p.Hidden),
		"input": strconv.Itoa(p.Size), "seed": strconv.FormatInt(p.Seed, 10),
		"identities": strconv.Itoa(len(d.identities)), "objects": strconv.Itoa(len(d.objects)),
		"normalize": d.train[0].px.Normalize(), checkpoint.ClassNamesKey: string(names),
	}}
	for _, prm := range arch.Params(d.classes()) {
		o.order = append(o.order, prm.Name)
	}
	o.curve.meta = map[string]string{
		data.CurveIdentities: strconv.Itoa(len(d.identities)), data.CurveObjects: strconv.Itoa(len(d.objects)),
		data.CurveFaceChance: formatChance(len(d.identities)), data.CurveObjectChance: formatChance(len(d.objects)),
	}
	return o
}

func formatChance(n int) string {
	if n == 0 {
		return "NaN"
	}
	return strconv.FormatFloat(1/float64(n), 'g', -1, 64)
}

// checkpoint writes the weights after epoch as epoch_NN.safetensors.
func (o *outputs) checkpoint(epoch int, params map[string]net.Tensor) error {
	meta := map[string]string{"epoch": strconv.Itoa(epoch)}
	for k, v := range o.meta {
		meta[k] = v
	}
	cp := make(map[string]checkpoint.Tensor, len(params))
	for k, t := range params {
		cp[k] = checkpoint.Tensor(t)
	}
	if err := checkpoint.WriteSafetensors(o.job.Output(checkpoint.EpochFile(epoch)), o.order, cp, meta); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// curve is curve.arrow's columns.
type curve struct {
	epoch                                    []int32
	lr, trainLoss, trainAcc                  []float64
	faceLoss, faceAcc, objectLoss, objectAcc []float64
	meta                                     map[string]string
}

func (c *curve) add(epoch int, lr, trainLoss, trainAcc float64, s scores) {
	c.epoch = append(c.epoch, int32(epoch))
	c.lr = append(c.lr, lr)
	c.trainLoss = append(c.trainLoss, trainLoss)
	c.trainAcc = append(c.trainAcc, trainAcc)
	c.faceLoss = append(c.faceLoss, s.faceLoss)
	c.faceAcc = append(c.faceAcc, s.faceAcc)
	c.objectLoss = append(c.objectLoss, s.objectLoss)
	c.objectAcc = append(c.objectAcc, s.objectAcc)
}

func (o *outputs) writeCurve() error {
	c := &o.curve
	var t arrowfile.Table
	t.Int32s(data.CurveEpoch, c.epoch)
	t.Float64s(data.CurveLR, c.lr)
	t.Float64s(data.CurveTrainLoss, c.trainLoss)
	t.Float64s(data.CurveTrainAcc, c.trainAcc)
	t.Float64s(data.CurveFaceLoss, c.faceLoss)
	t.Float64s(data.CurveFaceAcc, c.faceAcc)
	t.Float64s(data.CurveObjectLoss, c.objectLoss)
	t.Float64s(data.CurveObjectAcc, c.objectAcc)
	if err := t.Write(o.job.Output(data.CurveFile), c.meta); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

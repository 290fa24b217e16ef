// Package data is the contract between stage kinds: the tables one kind
// writes and others read, each with one definition of its file, column and
// metadata names, and its writer and reader where more than one kind needs
// them.
//
//   - images.go: the stimuli kind's image table (Table, ReadImages,
//     WriteImages), which extract and aggregate pass on beside their layers,
//     and its pixels (OpenPixels, PixelsSchema) and skipped images;
//   - layer.go: layer files, the activation matrices of extract (unit level)
//     and aggregate (kernel level): their metadata (Layer.Meta), finding and
//     selecting them in a stage's outputs (Layers, Select), and reading their
//     memory-mapped rows with a bounded resident set (Pager, FileOffsets);
//   - tables.go: the metric tables' metric names and columns (Metrics,
//     ValueColumn, SelectedColumn), the summary's layers (SummaryLayers), and
//     the output files of correlate, bootstrap, permutation, reliability and
//     variants;
//   - curve.go: the train kind's training curve.
//
// A network (weights.arrow) is stages/internal/weights'.
package data

// The train kind's training curve, curve.arrow: one row per epoch (epoch
// 0: before training). Accuracies are fractions in [0, 1]; lr, train_loss
// and train_acc are NaN at epoch 0, the held-out columns NaN without a
// held-out set.
const (
	CurveFile       = "curve.arrow"
	CurveEpoch      = "epoch"       // int32
	CurveLR         = "lr"          // float64, the learning rate of the epoch
	CurveTrainLoss  = "train_loss"  // float64, mean over the epoch's batches
	CurveTrainAcc   = "train_acc"   // float64
	CurveFaceAcc    = "face_acc"    // float64, held-out images of trained identities
	CurveObjectAcc  = "object_acc"  // float64, held-out object exemplars
	CurveFaceLoss   = "face_loss"   // float64
	CurveObjectLoss = "object_loss" // float64
	// Schema metadata: chance accuracies (decimal strings) and class counts.
	CurveFaceChance   = "face_chance"
	CurveObjectChance = "object_chance"
	CurveIdentities   = "identities"
	CurveObjects      = "objects"
)

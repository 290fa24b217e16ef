// Package data names the tables that flow between stage kinds, so that the
// kind writing a table and the kinds reading it share one definition
// instead of copies of its file, column and metadata names.
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

// Package stimuli is the `stimuli` stage kind: it reads a folder of images
// (fLOC, an ImageFolder-style tree, a flat folder, or a folder per identity)
// or draws a synthetic set with fLOC's category names (and four more
// objects: chair, bottle, cup, lamp, in domain objects by default), labels
// every image with its category, domain and identity, and stores the images
// after the study's resize and center crop as 8-bit pixels, so that every
// later stage reads the same stimulus table and the same pixels without
// decoding a JPEG again.
//
// # Synthetic sets and held-out splits
//
// A synthetic category set draws exemplars first_image …
// first_image+per_category−1 of each category; an identity set (identities
// > 0) draws images first_image … first_image+images_per_identity−1 of
// identities first_identity … first_identity+identities−1. Identity i is
// always named id%03d of i+1 and image j is always number j+1, so from one
// seed an experiment draws disjoint sets that agree on names: a training
// set (identities 0–99, images 0–39), held-out images of the trained
// identities (first_image: 40, images_per_identity: 5) and held-out
// identities (first_identity: 100, identities: 20).
//
// # Outputs
//
// images.arrow — one record batch, one row per image in stimulus order:
// the order of `categories`, then natural file order within a category
// (adult-2 before adult-10); identity sets: natural identity order, then
// image order. Columns:
//
//	index     int32  row number, 0…N-1
//	path      utf8   path relative to the dataset root, slash-separated;
//	                 synthetic: "synthetic/adult/adult-3.png",
//	                 "synthetic/id001/3.png"
//	category  utf8   "adult", …; identity sets: "face"
//	domain    utf8   "faces", …; identity sets: "faces"
//	identity  utf8   identity folder name (synthetic: "id001", …); "" when none
//	image     int32  the image's number within its category or identity,
//	                 1-based: fLOC's n of <category>-<n>.jpg, else running
//	                 in file order (numbers stay put when images are skipped)
//
// Schema metadata: source ("synthetic" or "folder"), layout ("floc",
// "imagefolder", "flat" or "identities"; synthetic category sets are "floc")
// and skipped (how many images on_error: skip left out).
//
// pixels.arrow — the resized and center-cropped 8-bit pixels, one row per
// image in images.arrow's order, one column `pixels` of
// FixedSizeList<uint8>[C*S*S] in CHW order, in record batches of about
// 64 MiB. C is 1 when every image is grayscale (fLOC, synthetic) and 3
// otherwise, gray images then replicated into three channels. Schema
// metadata: shape = "C,S,S", normalize = the normalisation's name, mean and
// std = three comma-separated float32 values (R, G, B). The normalisation
// is not applied to the stored bytes: data.Pixels.Batches applies it, exactly as
// torchvision's ToTensor + Normalize.
//
// skipped.arrow — the images left out under on_error: skip, one row each:
// path utf8 (as in images.arrow), error utf8. Empty otherwise.
//
// data.ReadImages, data.OpenPixels and data.ReadSkipped read these files back for later
// stages; Export writes a stimulus set as PNG folders for people to look at.
package stimuli

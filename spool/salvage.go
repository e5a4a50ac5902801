package spool

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// salvage moves a damaged spool file aside, opens a new one at path and
// copies into it every alert that can still be read from the old file.
func salvage(path string, cause error, log *slog.Logger) (Recovery, *bolt.DB, error) {
	rec := Recovery{Damaged: true, Reason: cause.Error(), Lost: -1}
	rec.MovedTo = fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, rec.MovedTo); err != nil {
		return rec, nil, fmt.Errorf("spool %s is damaged (%v) and cannot be moved aside: %w", path, cause, err)
	}

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return rec, nil, fmt.Errorf("create a new spool at %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		db.Close()
		return rec, nil, err
	}

	items, listed := readDamaged(rec.MovedTo, log)
	if len(items) > 0 {
		err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketName)
			for _, it := range items {
				if err := b.Put(keyOf(it.Key), it.Value); err != nil {
					return err
				}
			}
			return b.SetSequence(items[len(items)-1].Key)
		})
		if err != nil {
			db.Close()
			return rec, nil, fmt.Errorf("copy recovered alerts into %s: %w", path, err)
		}
	}
	rec.Recovered = len(items)
	if listed >= 0 {
		rec.Lost = max(0, listed-len(items))
	}
	return rec, db, nil
}

// readDamaged reads what it can from a damaged bbolt file. bbolt rejects a
// file whose meta or freelist pages are damaged, so this walks the pages
// directly. The elements of every leaf page, and of every bucket stored
// inline in one, that have an 8-byte key and a JSON value are taken as
// queued alerts. A page that was freed but not yet reused can still hold alerts
// that were already delivered, so salvage may send an alert twice (with
// the same alert id) but does not skip one that the file still holds.
// listed is -1: a damaged file cannot say how many alerts it held.
func readDamaged(path string, log *slog.Logger) (items []Item, listed int) {
	data, err := os.ReadFile(path)
	if err != nil {
		log.Warn("the damaged spool file cannot be read", "path", path, "error", err)
		return nil, -1
	}

	size := pageSizeOf(data)
	seen := map[uint64]bool{}
	for off := 0; off+pageHeaderSize <= len(data); off += size {
		end := min(len(data), off+size*(1+int(overflowOf(data[off:]))))
		guard(func() {
			for _, it := range leafItems(data[off:end], 0) {
				if !seen[it.Key] {
					seen[it.Key] = true
					items = append(items, it)
				}
			}
		})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	return items, -1
}

// bbolt's on-disk layout (version 2, little-endian): a page starts with
// id u64, flags u16, count u16, overflow u32; a leaf element is flags u32,
// pos u32, ksize u32, vsize u32, with pos counted from the element; a
// bucket value starts with root u64 and sequence u64, followed by the
// bucket's own page when root is 0 (an inline bucket).
const (
	pageHeaderSize  = 16
	leafElementSize = 16
	leafPageFlag    = 0x02
	bucketLeafFlag  = 0x01
	bucketHeader    = 16
	maxInlineDepth  = 4
)

func pageSizeOf(data []byte) int {
	// Each meta page stores the page size after its header, magic and
	// version; the first meta page sits at offset 0.
	if len(data) >= 28 {
		size := int(binary.LittleEndian.Uint32(data[24:28]))
		if size >= 512 && size <= 1<<16 && size&(size-1) == 0 {
			return size
		}
	}
	return os.Getpagesize()
}

func overflowOf(page []byte) uint32 {
	if len(page) < pageHeaderSize {
		return 0
	}
	return binary.LittleEndian.Uint32(page[12:16])
}

// leafItems returns the alerts in one leaf page, reading inline buckets
// that the page holds. Every offset is checked against the page bounds.
func leafItems(page []byte, depth int) []Item {
	if len(page) < pageHeaderSize || depth > maxInlineDepth {
		return nil
	}
	flags := binary.LittleEndian.Uint16(page[8:10])
	count := int(binary.LittleEndian.Uint16(page[10:12]))
	if flags&leafPageFlag == 0 {
		return nil
	}

	var items []Item
	for i := range count {
		elem := pageHeaderSize + i*leafElementSize
		if elem+leafElementSize > len(page) {
			break
		}
		eflags := binary.LittleEndian.Uint32(page[elem:])
		pos := int(binary.LittleEndian.Uint32(page[elem+4:]))
		ksize := int(binary.LittleEndian.Uint32(page[elem+8:]))
		vsize := int(binary.LittleEndian.Uint32(page[elem+12:]))
		kstart := elem + pos
		if pos < 0 || ksize < 0 || vsize < 0 || kstart+ksize+vsize > len(page) || kstart < 0 {
			continue
		}
		key := page[kstart : kstart+ksize]
		value := page[kstart+ksize : kstart+ksize+vsize]

		if eflags&bucketLeafFlag != 0 {
			if len(value) > bucketHeader && binary.LittleEndian.Uint64(value[:8]) == 0 {
				items = append(items, leafItems(value[bucketHeader:], depth+1)...)
			}
			continue
		}
		if ksize == 8 && json.Valid(value) && len(value) > 0 && value[0] == '{' {
			items = append(items, Item{Key: binary.BigEndian.Uint64(key), Value: append([]byte(nil), value...)})
		}
	}
	return items
}

// guard runs f and swallows a panic, which bbolt raises on damaged pages.
func guard(f func()) {
	defer func() { _ = recover() }()
	f()
}

#!/usr/bin/env bash
# `lbox build -o` writes an OCI archive that docker and podman load: OCI layout plus a legacy
# manifest.json. Every digest and size is checked, and diff_ids against the uncompressed layers.
source "$LBOX_SRC/tests/lib/common.sh"

"$LBOX" build --runtime nodejs18.x --arch arm64 --code "$LBOX_SRC/examples/hello" \
  --handler index.handler --tag oci:test -o "$T/image.tar" >/dev/null
mkdir "$T/x" && tar -xf "$T/image.tar" -C "$T/x"
cd "$T/x"

check "oci-layout says 1.0.0" test "$(jq -r .imageLayoutVersion oci-layout)" = 1.0.0
check "index.json is an image index" test "$(jq -r .schemaVersion index.json)" = 2
check "index.json names the tag" test "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' index.json)" = "oci:test"

blob() { echo "blobs/sha256/${1#sha256:}"; }
verify() { # digest size
  local f; f=$(blob "$1")
  [ -f "$f" ] && [ "sha256:$(sha256sum "$f" | cut -d' ' -f1)" = "$1" ] && [ "$(stat -c %s "$f")" = "$2" ]
}
m=$(jq -r '.manifests[0].digest' index.json)
check "the manifest blob matches its digest and size" verify "$m" "$(jq -r '.manifests[0].size' index.json)"
mf=$(blob "$m")
check "manifest media type is OCI" test "$(jq -r .mediaType "$mf")" = application/vnd.oci.image.manifest.v1+json
c=$(jq -r .config.digest "$mf")
check "the config blob matches its digest and size" verify "$c" "$(jq -r .config.size "$mf")"
cf=$(blob "$c")
check "config says arm64" test "$(jq -r .architecture "$cf")" = arm64
check "config says variant v8" test "$(jq -r .variant "$cf")" = v8
check "config says linux" test "$(jq -r .os "$cf")" = linux
check "Cmd is the handler" test "$(jq -c .config.Cmd "$cf")" = '["index.handler"]'
check "WorkingDir is /var/task" test "$(jq -r .config.WorkingDir "$cf")" = /var/task
check "Env has LAMBDA_TASK_ROOT" jqe '.config.Env | index("LAMBDA_TASK_ROOT=/var/task")' <"$cf"
check "Env has Lambda's PATH" jqe '.config.Env | any(startswith("PATH=/var/lang/bin:"))' <"$cf"
n=$(jq '.layers | length' "$mf")
check "layer count equals diff_id count" test "$n" = "$(jq '.rootfs.diff_ids | length' "$cf")"
for i in $(seq 0 $((n - 1))); do
  d=$(jq -r ".layers[$i].digest" "$mf")
  check "layer $i matches its digest and size" verify "$d" "$(jq -r ".layers[$i].size" "$mf")"
  check "layer $i is gzip'd tar" test "$(jq -r ".layers[$i].mediaType" "$mf")" = application/vnd.oci.image.layer.v1.tar+gzip
  want=$(jq -r ".rootfs.diff_ids[$i]" "$cf")
  check "layer $i diff_id is the sha256 of the uncompressed tar" \
    test "sha256:$(gzip -dc "$(blob "$d")" | sha256sum | cut -d' ' -f1)" = "$want"
done
check "manifest.json names the tag" test "$(jq -r '.[0].RepoTags[0]' manifest.json)" = "oci:test"
check "manifest.json's config exists" test -f "$(jq -r '.[0].Config' manifest.json)"
check "manifest.json lists every layer" test "$(jq '.[0].Layers | length' manifest.json)" = "$n"
for l in $(jq -r '.[0].Layers[]' manifest.json); do
  check "manifest.json layer $l exists" test -f "$l"
done
if command -v skopeo >/dev/null; then
  check "skopeo reads the archive" skopeo inspect --raw "oci-archive:$T/image.tar"
fi
finish

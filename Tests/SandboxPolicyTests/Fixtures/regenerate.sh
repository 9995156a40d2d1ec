#!/bin/sh
# Regenerates inspect-default.json: what the local engine reports for the create body our launch
# spec builds from ReadBackTests' inputs and the shipped default profile. Run it from the package
# root after changing Policies/default.toml or Policies/seccomp/sandbox.json. It creates (never
# starts) one container, named sandcastle-policy-fixture, and removes it.
set -eu
socket=/var/run/docker.sock
api=http://engine/v1.41
fixtures=Tests/SandboxPolicyTests/Fixtures
body=$(mktemp)
trap 'rm -f "$body"' EXIT

# An image the default profile allows: busybox-static in an otherwise empty root file system.
if ! docker image inspect sandcastle/policy-dev:fixture >/dev/null 2>&1; then
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/workspace"
    cp /bin/busybox "$rootfs/bin/busybox" && ln -s busybox "$rootfs/bin/sh"
    tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' - sandcastle/policy-dev:fixture
    rm -rf "$rootfs"
fi
mkdir -p /tmp/sandcastle-policy-fixture/demo
chown 2000000:2000000 /tmp/sandcastle-policy-fixture/demo

SANDCASTLE_WRITE_CREATE_BODY="$body" swift test --filter 'SandboxPolicyTests.ReadBackTests/writeCreateBody'
curl -sf --unix-socket $socket -H 'Content-Type: application/json' -d @"$body" \
    "$api/containers/create?name=sandcastle-policy-fixture" >/dev/null
curl -sf --unix-socket $socket "$api/containers/sandcastle-policy-fixture/json" | jq . > $fixtures/inspect-default.json
curl -sf -X DELETE --unix-socket $socket "$api/containers/sandcastle-policy-fixture?force=1"
echo "wrote $fixtures/inspect-default.json"

import SandcastleTestSupport
import Testing

/// Reading `mountinfo`, which the Docker-in-Docker harness uses to prove the host's mount table
/// did not change.
@Suite("mount table parsing")
struct MountTableTests {
    static let sample = """
        27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
        42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw
        48 27 0:4 net:[4026531833] /run/docker/netns/default rw - nsfs nsfs rw
        90 42 0:61 / /var/lib/docker/overlay2/abc/merged rw,relatime shared:7 - overlay overlay rw,lowerdir=x
        91 27 0:62 / /var/lib/docker/containers/0123/mounts/shm rw - tmpfs shm rw
        95 27 254:0 /srv/ws\\040one /srv/pool/slot\\0401 rw,relatime shared:9 master:2 - ext4 /dev/vda rw
        96 95 254:0 /srv/ws/two /srv/pool/slot\\0401 rw,relatime - ext4 /dev/vda rw
        97 30 254:0 /usr/sbin/runc /run/docker/runtime-runc/moby/23cd41/runc.3UC6Ri ro - ext4 /dev/vda rw
        98 27 254:0 /srv/runc.1 /srv/runc.1 rw - ext4 /dev/vda rw
        """

    @Test("mount points, types and sources, with the kernel's octal escapes decoded")
    func entries() {
        let entries = MountTable.entries(in: Self.sample)
        #expect(entries.count == 9)
        #expect(entries[5] == MountTable.Entry(mountPoint: "/srv/pool/slot 1", fileSystemType: "ext4", source: "/dev/vda"))
    }

    @Test("engine plumbing (root file systems, network namespaces, shm, runc's bind of itself) is told apart from other mounts")
    func plumbing() {
        let plumbing = MountTable.entries(in: Self.sample).map(\.isContainerPlumbing)
        #expect(plumbing == [false, false, true, true, true, false, false, true, false])
    }

    @Test("shared or not is read from the mount on top, nil where nothing is mounted")
    func shared() {
        #expect(MountTable.isShared("/var/lib/docker", in: Self.sample) == true)
        #expect(MountTable.isShared("/", in: Self.sample) == false)
        // Two mounts on the slot: the later one (on top) is private.
        #expect(MountTable.isShared("/srv/pool/slot 1", in: Self.sample) == false)
        #expect(MountTable.isShared("/nowhere", in: Self.sample) == nil)
    }

    @Test("Swift Testing's passed-test lines are counted, the run's summary is not")
    func passedLines() {
        let output = """
            ◇ Test "a" started.
            ✔ Test "a" passed after 0.1 seconds.
            ✔ Test b() passed after 0.2 seconds.
            ✘ Test "c" failed after 0.1 seconds with 1 issue.
            ✔ Suite "Test things" passed after 0.3 seconds.
            ✔ Test run with 3 tests in 1 suite passed after 0.3 seconds.
            """
        #expect(SwiftTestingOutput.passedTests(in: output).count == 2)
    }
}

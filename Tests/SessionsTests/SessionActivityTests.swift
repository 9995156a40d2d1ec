import Sessions
import Testing

/// The viewer count the idle reaper asks: a watched session is never idle.
@Suite("Session activity: viewers counted for the idle reaper")
struct SessionActivityTests {
    @Test func viewersAreCountedUntilEachHasLeft() {
        let activity = SessionActivity()
        activity.viewerAttached("s")
        activity.viewerAttached("s")
        activity.viewerDetached("s")
        #expect(activity.viewers(of: "s") == 1)
        activity.viewerDetached("s")
        #expect(activity.viewers(of: "s") == 0)
    }

    @Test func aDetachCountedBeforeItsAttachLeavesNoViewer() {
        // The relay reports each from the thread where it happened: a viewer that leaves at once
        // can be heard leaving first. A session it left must still become idle.
        let activity = SessionActivity()
        activity.viewerDetached("s")
        #expect(activity.viewers(of: "s") == 0)
        activity.viewerAttached("s")
        #expect(activity.viewers(of: "s") == 0)
        activity.viewerAttached("s")
        #expect(activity.viewers(of: "s") == 1)
    }
}

"""Running a call on a given number of the library's threads, the setting restored after."""
import cnnnative as cn


def on_threads(threads, fn):
    """fn() with cn.set_num_threads(threads), then the previous count again."""
    before = cn.get_num_threads()
    try:
        cn.set_num_threads(threads)
        return fn()
    finally:
        cn.set_num_threads(before)

/*
 * test_errno: the one errno -> ErrorCode table (daemon/dispatch.c,
 * req_errno): the codes clients see for each errno a handler maps, and
 * the messages req_errno records.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dispatch.h"

static void
test_codes(void **state)
{
	static const struct {
		int r;
		int code;
	} want[] = {
		{ -ENOENT, EVD__ERROR_CODE__NOT_FOUND },
		{ -EACCES, EVD__ERROR_CODE__PERMISSION_DENIED },
		{ -EPERM, EVD__ERROR_CODE__PERMISSION_DENIED },
		{ -EDQUOT, EVD__ERROR_CODE__RESOURCE_EXHAUSTED },
		{ -E2BIG, EVD__ERROR_CODE__RESOURCE_EXHAUSTED },
		{ -ENOBUFS, EVD__ERROR_CODE__RESOURCE_EXHAUSTED },
		{ -EOVERFLOW, EVD__ERROR_CODE__RESOURCE_EXHAUSTED },
		{ -ENOMEM, EVD__ERROR_CODE__RESOURCE_EXHAUSTED },
		{ -EAGAIN, EVD__ERROR_CODE__UNAVAILABLE },
		{ -EIO, EVD__ERROR_CODE__UNAVAILABLE },
		{ -EINVAL, EVD__ERROR_CODE__INVALID_ARGUMENT },
		{ -EEXIST, EVD__ERROR_CODE__FAILED_PRECONDITION },
		{ -EALREADY, EVD__ERROR_CODE__FAILED_PRECONDITION },
		{ -ECANCELED, EVD__ERROR_CODE__FAILED_PRECONDITION },
		{ -ENOTSUP, EVD__ERROR_CODE__FAILED_PRECONDITION },
		/* Anything else is a fault of evd's. */
		{ -ESTALE, EVD__ERROR_CODE__INTERNAL },
		{ -EBADF, EVD__ERROR_CODE__INTERNAL },
		{ 0, EVD__ERROR_CODE__INTERNAL },
	};
	size_t i;

	for (i = 0; i < sizeof want / sizeof want[0]; i++)
		if (req_errno_code(want[i].r) != want[i].code)
			fail_msg("errno %d: code %d, not %d", -want[i].r,
			         req_errno_code(want[i].r), want[i].code);
}

/* The handler's message, the table's code. */
static void
test_message(void **state)
{
	struct req_ctx ctx;

	memset(&ctx, 0, sizeof ctx);
	assert_int_equal(req_errno(&ctx, -ENOENT, "no timer %d", 7), -EINVAL);
	assert_int_equal(ctx.err_code, EVD__ERROR_CODE__NOT_FOUND);
	assert_string_equal(ctx.err_msg, "no timer 7");
}

/* Without a message: the store's reason for UNAVAILABLE (none recorded
 * here), strerror otherwise, and INTERNAL says so. */
static void
test_default_message(void **state)
{
	struct req_ctx ctx;

	memset(&ctx, 0, sizeof ctx);
	req_errno(&ctx, -EIO, NULL);
	assert_int_equal(ctx.err_code, EVD__ERROR_CODE__UNAVAILABLE);
	assert_string_equal(ctx.err_msg, "the store failed to write; try again");
	memset(&ctx, 0, sizeof ctx);
	assert_int_equal(req_unavailable(&ctx), -EINVAL);
	assert_int_equal(ctx.err_code, EVD__ERROR_CODE__UNAVAILABLE);
	memset(&ctx, 0, sizeof ctx);
	req_errno(&ctx, -ESTALE, NULL);
	assert_int_equal(ctx.err_code, EVD__ERROR_CODE__INTERNAL);
	assert_non_null(strstr(ctx.err_msg, "internal error: "));
	memset(&ctx, 0, sizeof ctx);
	req_errno(&ctx, -EACCES, NULL);
	assert_int_equal(ctx.err_code, EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_string_equal(ctx.err_msg, strerror(EACCES));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_default_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

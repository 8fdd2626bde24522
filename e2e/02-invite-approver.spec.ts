import { ADMIN, acceptInvitation, appCodeOf, expect, invite, pageAlert, test, trpcQuery } from "./fixtures";

const ALAN = { name: "Alan Approver", roles: ["approver"], groups: ["treasury"] } as const;

test("an admin invites an approver, who joins with his own token and sees only what approvers may", async ({
  admin,
  newPerson,
  page: anonymous,
}) => {
  const link = await invite(admin.page, ALAN);
  // Alan, at his own computer with his own hardware token.
  const alan = await newPerson();

  await test.step("Alan opens the link, sees his roles, registers his token and lands signed in", async () => {
    await alan.page.goto(link);
    await expect(
      alan.page.getByRole("heading", { name: `You are invited to Keyward, ${ALAN.name}` }),
    ).toBeVisible();
    await expect(alan.page.getByTestId("invitation-roles")).toHaveText("approver");
    await acceptInvitation(alan.page, link, "Alan's YubiKey");
    await expect(alan.page.getByTestId("signed-in-as")).toHaveText("Alan Approver · approver");
    await expect(alan.page.getByRole("heading", { name: "Welcome, Alan Approver" })).toBeVisible();
    await expect(alan.page.getByText("approver groups: treasury")).toBeVisible();
  });

  await test.step("the link works once", async () => {
    await alan.page.goto(link);
    await expect(pageAlert(alan.page)).toHaveText("This invitation was already used. Sign in instead.");
    await expect(alan.page.getByRole("button", { name: "Register my token and join" })).toHaveCount(0);
  });

  await test.step("the admin sees Alan in the member table with the treasury group", async () => {
    await admin.page.goto("/members");
    await expect(admin.page.getByTestId(`member-${ALAN.name}`).getByRole("cell")).toHaveText([
      ALAN.name,
      "approver",
      "treasury",
      "1",
      "active",
      /Edit/,
    ]);
    await expect(admin.page.getByRole("region", { name: "Open invitations" })).not.toContainText(ALAN.name);
  });

  await test.step("Alan may not see the member list, on the page or through the API", async () => {
    await alan.page.goto("/members");
    await expect(alan.page.getByRole("heading", { name: "Not allowed" })).toBeVisible();
    await expect(alan.page.getByTestId(`member-${ADMIN.name}`)).toHaveCount(0);
    await expect(
      alan.page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Members" }),
    ).toHaveCount(0);
    const response = await trpcQuery(alan.page.request, "members.list");
    expect(response.status()).toBe(403);
    expect(await appCodeOf(response)).toBe("FORBIDDEN");
    expect(await response.text()).toContain("This needs the admin or auditor role.");
  });

  await test.step("someone not signed in gets 401 from the API and the sign-in page instead of /members", async () => {
    const response = await trpcQuery(anonymous.request, "members.list");
    expect(response.status()).toBe(401);
    expect(await appCodeOf(response)).toBe("UNAUTHENTICATED");
    await anonymous.goto("/members");
    await expect(anonymous).toHaveURL(/\/sign-in$/);
    await expect(anonymous.getByRole("button", { name: "Sign in with my token" })).toBeVisible();
  });
});
